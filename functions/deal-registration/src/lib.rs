//! `deal-registration`: partners register deals; channel managers decide
//! them; partners withdraw their own (SPEC §6).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use partnerops_api::list::{ListBody, empty, page_request, partner_scope};
use partnerops_api::problem::ApiResult;
use partnerops_api::problem::{Attempt, retry_on_conflict};
use partnerops_api::{ApiJson, AppState, Principal, Problem, Route, build_router, entropy};
use partnerops_aws::store::{RegistrationQuery, RegistrationRecord};
use partnerops_domain::auth::Role;
use partnerops_domain::id::{EventId, RegistrationId};
use partnerops_domain::partner::{Partner, PartnerId};
use partnerops_domain::registration::{
    ChangeRefused, Decision, DecisionDraft, QueueChange, QueueWrite, RegistrationDraft, RegistrationStatus,
    RegistrationSubmission, SubmissionIds, SubmissionOutcome, decide_registration, decide_submission,
    withdraw_registration,
};
use partnerops_domain::sla::SlaView;
use serde::Serialize;
use std::collections::HashMap;

/// Attempts at a write whose queue keeps moving underneath it.
const ATTEMPTS: usize = 8;

pub fn routes() -> Vec<Route> {
    vec![
        Route::post("/v1/deal-registrations", &[Role::Partner], submit),
        Route::get("/v1/deal-registrations", READERS, list),
        Route::get("/v1/deal-registrations/{id}", READERS, get_one),
        Route::post("/v1/deal-registrations/{id}/decision", &[Role::ChannelManager], decide),
        Route::post("/v1/deal-registrations/{id}/withdraw", &[Role::Partner], withdraw),
        Route::get("/v1/deal-registrations/{id}/history", READERS, history),
    ]
}

pub fn router(state: AppState) -> axum::Router {
    build_router(routes(), state)
}

const READERS: &[Role] = &[Role::Partner, Role::ChannelManager, Role::Admin];

#[derive(Serialize)]
struct Conflict {
    queue_position: usize,
}

/// A registration as the API shows it.
#[derive(Serialize)]
struct Body {
    #[serde(flatten)]
    registration: partnerops_domain::registration::Registration,
    slas: Vec<SlaView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conflict: Option<Conflict>,
}

fn body(record: RegistrationRecord, position: Option<usize>) -> Body {
    Body {
        slas: record.timers.iter().map(|t| t.view()).collect(),
        registration: record.registration,
        conflict: position.filter(|p| *p >= 2).map(|queue_position| Conflict { queue_position }),
    }
}

fn fresh_event_id(state: &AppState) -> impl FnMut() -> EventId + '_ {
    move || EventId::generate(state.clock.now(), entropy())
}

/// Where a pending registration stands in its customer's queue (1 = lead).
pub async fn position(state: &AppState, record: &RegistrationRecord) -> Result<Option<usize>, Problem> {
    if record.registration.status != RegistrationStatus::Pending {
        return Ok(None);
    }
    let queue = state.store.registration_queue(&record.registration.customer_key).await?;
    Ok(queue.position_of(&record.registration.id))
}

async fn submit(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(draft): ApiJson<RegistrationDraft>,
) -> ApiResult {
    let partner = principal.partner_record.clone().ok_or_else(Problem::forbidden)?;
    let today = state.clock.now().as_datetime().date_naive();
    let submission = RegistrationSubmission::parse(draft, today).map_err(Problem::validation)?;
    let submitted = submit_registration(&state, &partner, &submission).await?;
    let created = submitted.created;
    let response = Json(body(submitted.record, submitted.position));
    if created {
        let location = format!("/v1/deal-registrations/{}", response.0.registration.id);
        Ok((StatusCode::CREATED, [(header::LOCATION, location)], response).into_response())
    } else {
        Ok(response.into_response())
    }
}

/// A submission's outcome: the registration (new, or the partner's own
/// existing one for the customer) and its queue position while pending.
pub struct Submitted {
    pub record: RegistrationRecord,
    pub position: Option<usize>,
    pub created: bool,
}

/// SPEC §6 for one parsed submission by `partner`; refusals are the API's
/// problems (403 `not_certified`, 409 with the partner-safe wording). The
/// API and the portal's forms both come through here.
pub async fn submit_registration(
    state: &AppState,
    partner: &Partner,
    submission: &RegistrationSubmission,
) -> Result<Submitted, Problem> {
    retry_on_conflict(ATTEMPTS, move || async move {
        let now = state.clock.now();
        let standing = state.store.customer_standing(&submission.customer_key).await?;
        let ids = SubmissionIds {
            registration_id: RegistrationId::generate(now, entropy()),
            event_ids: [EventId::generate(now, entropy()), EventId::generate(now, entropy())],
        };
        match decide_submission(submission.clone(), partner, &standing, &state.terms, now, ids) {
            SubmissionOutcome::NotCertified => Err(Attempt::from(Problem::new(
                StatusCode::FORBIDDEN,
                "not_certified",
                "The program requires an unexpired deal_registration certification to register deals.",
            ))),
            SubmissionOutcome::Existing(id) => {
                let record = state.store.registration(&id).await?.ok_or_else(Problem::internal)?;
                let position = position(state, &record).await?;
                Ok(Submitted { record, position, created: false })
            }
            SubmissionOutcome::Rejected(recorded, refusal) => {
                state.store.record_registration(&recorded).await?;
                Err(Attempt::from(
                    Problem::conflict(refusal.code(), refusal.detail())
                        .with("registration_id", recorded.registration.id.to_string()),
                ))
            }
            SubmissionOutcome::Accepted(recorded) => match state.store.record_registration(&recorded).await {
                Ok(()) => {
                    let appended = matches!(recorded.queue_write, Some(QueueWrite::Append(_)));
                    let record = RegistrationRecord {
                        timers: recorded.timer.iter().cloned().collect(),
                        registration: recorded.registration,
                    };
                    let position = if appended { position(state, &record).await? } else { None };
                    tracing::info!(registration_id = %record.registration.id, status = record.registration.status.as_str(), "deal registration submitted");
                    Ok(Submitted { record, position, created: true })
                }
                Err(e) => Err(e.into()),
            },
        }
    })
    .await
}

/// The registration if this caller may see it (another partner's is 404).
async fn visible(state: &AppState, principal: &Principal, id: &str) -> Result<RegistrationRecord, Problem> {
    let id = RegistrationId::parse(id).ok_or_else(Problem::not_found)?;
    let record = state.store.registration(&id).await?.ok_or_else(Problem::not_found)?;
    if principal.partner().is_some_and(|p| p != &record.registration.partner_id) {
        return Err(Problem::not_found());
    }
    Ok(record)
}

async fn get_one(State(state): State<AppState>, principal: Principal, Path(id): Path<String>) -> ApiResult {
    let record = visible(&state, &principal, &id).await?;
    let position = position(&state, &record).await?;
    Ok(Json(body(record, position)).into_response())
}

async fn history(State(state): State<AppState>, principal: Principal, Path(id): Path<String>) -> ApiResult {
    let record = visible(&state, &principal, &id).await?;
    let entries = state.store.registration_history(&record.registration.id).await?;
    Ok(Json(serde_json::json!({ "items": entries })).into_response())
}

async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let page = page_request(&query)?;
    let status = match query.get("status") {
        Some(raw) => Some(
            RegistrationStatus::parse(raw)
                .ok_or_else(|| Problem::field("status", "must be pending, approved, rejected, withdrawn or expired"))?,
        ),
        None => None,
    };
    let Some(partner_id) = partner_scope(&principal, &query)? else {
        return Ok(Json(empty()).into_response());
    };
    let page = state.store.registrations(&RegistrationQuery { partner_id, status }, &page).await?;
    let page = partnerops_aws::store::Page {
        items: page.items.into_iter().map(|r| body(r, None)).collect(),
        next_cursor: page.next_cursor,
    };
    Ok(Json(ListBody::from(page)).into_response())
}

fn refused(reason: ChangeRefused) -> Problem {
    let code = match reason {
        ChangeRefused::AlreadyDecided => "already_decided",
        ChangeRefused::NotLead => "conflict_not_lead",
        ChangeRefused::NotWithdrawable => "not_withdrawable",
    };
    Problem::conflict(code, reason.to_string())
}

/// The registration after `change`, as it was written.
fn applied(mut record: RegistrationRecord, change: &QueueChange) -> RegistrationRecord {
    if let Some(c) = change.changes.iter().find(|c| c.registration_id == record.registration.id) {
        record.registration.apply(c);
    }
    for (owner, timer) in change.timer_owners.iter().zip(&change.timers) {
        if owner == &record.registration.id {
            record.timers = vec![timer.clone()];
        }
    }
    record
}

async fn decide(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(draft): ApiJson<DecisionDraft>,
) -> ApiResult {
    let id = RegistrationId::parse(&id).ok_or_else(Problem::not_found)?;
    let decision = Decision::parse(draft).map_err(Problem::validation)?;
    let record = decide_one(&state, &id, &decision, principal.key_id.as_str()).await?;
    Ok(Json(body(record, None)).into_response())
}

/// A channel manager's decision on one registration, recorded as made by
/// `actor` (an API key id or a user id).
pub async fn decide_one(
    state: &AppState,
    id: &RegistrationId,
    decision: &Decision,
    actor: &str,
) -> Result<RegistrationRecord, Problem> {
    retry_on_conflict(ATTEMPTS, move || async move {
        let record = state.store.registration(id).await?.ok_or_else(Problem::not_found)?;
        let (queue, owner) =
            state.store.queue_and_partner(&record.registration.customer_key, &record.registration.partner_id).await?;
        let owner = owner.ok_or_else(Problem::internal)?;
        let now = state.clock.now();
        let change = decide_registration(
            &record.registration,
            &record.timers,
            &queue,
            decision,
            &owner,
            actor,
            &state.terms,
            now,
            fresh_event_id(state),
        );
        let change = match change {
            Ok(change) => change,
            // The queue was read after the registration: a decision committed in
            // between can make a decided registration look like a queued one.
            Err(ChangeRefused::NotLead) => {
                let now_status = state.store.registration(id).await?.map(|r| r.registration.status);
                return Err(Attempt::from(refused(if now_status == Some(RegistrationStatus::Pending) {
                    ChangeRefused::NotLead
                } else {
                    ChangeRefused::AlreadyDecided
                })));
            }
            Err(other) => return Err(refused(other).into()),
        };
        match state.store.apply_queue_change(&change).await {
            Ok(()) => {
                tracing::info!(registration_id = %id, changed = change.changes.len(), "deal registration decided");
                Ok(applied(record, &change))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await
}

async fn withdraw(State(state): State<AppState>, principal: Principal, Path(id): Path<String>) -> ApiResult {
    let id = RegistrationId::parse(&id).ok_or_else(Problem::not_found)?;
    let partner = principal.partner().cloned().ok_or_else(Problem::not_found)?;
    let record = withdraw_one(&state, &partner, &id).await?;
    Ok(Json(body(record, None)).into_response())
}

/// A partner withdraws its own registration; another partner's is 404.
pub async fn withdraw_one(
    state: &AppState,
    partner: &PartnerId,
    id: &RegistrationId,
) -> Result<RegistrationRecord, Problem> {
    retry_on_conflict(ATTEMPTS, move || async move {
        let record = state.store.registration(id).await?.ok_or_else(Problem::not_found)?;
        if partner != &record.registration.partner_id {
            return Err(Attempt::from(Problem::not_found()));
        }
        let queue = state.store.registration_queue(&record.registration.customer_key).await?;
        let change = withdraw_registration(
            &record.registration,
            &record.timers,
            &queue,
            &state.terms,
            state.clock.now(),
            EventId::generate(state.clock.now(), entropy()),
        )
        .map_err(refused)?;
        match state.store.apply_queue_change(&change).await {
            Ok(()) => {
                tracing::info!(registration_id = %id, "deal registration withdrawn");
                Ok(applied(record, &change))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await
}
