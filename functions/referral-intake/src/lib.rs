//! `referral-intake`: partners submit referrals; partners, channel managers
//! and admins read them (SPEC §5).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use partnerops_api::list::{ListBody, empty, page_request, partner_scope};
use partnerops_api::problem::ApiResult;
use partnerops_api::problem::{Attempt, retry_on_conflict};
use partnerops_api::{ApiJson, AppState, Principal, Problem, Route, build_router, entropy};
use partnerops_aws::store::{ReferralQuery, ReferralRecord};
use partnerops_domain::auth::Role;
use partnerops_domain::id::{EventId, ReferralId};
use partnerops_domain::partner::PartnerId;
use partnerops_domain::referral::{
    IntakeDecision, IntakeIds, ReferralDraft, ReferralStatus, ReferralSubmission, decide_referral_intake,
};
use std::collections::HashMap;

/// Attempts at an intake whose prospect claim keeps changing underneath it.
const INTAKE_ATTEMPTS: usize = 5;

pub fn routes() -> Vec<Route> {
    vec![
        Route::post("/v1/referrals", &[Role::Partner], submit_referral),
        Route::get("/v1/referrals", READERS, list_referrals),
        Route::get("/v1/referrals/{id}", READERS, get_referral),
    ]
}

pub fn router(state: AppState) -> axum::Router {
    build_router(routes(), state)
}

const READERS: &[Role] = &[Role::Partner, Role::ChannelManager, Role::Admin];

async fn submit_referral(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(draft): ApiJson<ReferralDraft>,
) -> ApiResult {
    let partner_id = principal.partner().cloned().ok_or_else(Problem::forbidden)?;
    let submission = ReferralSubmission::parse(draft).map_err(Problem::validation)?;
    match intake(&state, &partner_id, &submission).await? {
        Intake::Existing(record) => Ok((StatusCode::OK, Json(record)).into_response()),
        Intake::Created(record) => {
            let location = format!("/v1/referrals/{}", record.referral.id);
            Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(record)).into_response())
        }
    }
}

/// What an intake came to: a new referral, or the partner's own live
/// referral of the same prospect. A rejection is the 409 problem, with the
/// partner-safe wording, after the rejected referral is recorded.
pub enum Intake {
    Created(ReferralRecord),
    Existing(ReferralRecord),
}

/// SPEC §5 for one parsed submission on behalf of `partner_id`: the API and
/// the portal's forms both come through here.
pub async fn intake(
    state: &AppState,
    partner_id: &PartnerId,
    submission: &ReferralSubmission,
) -> Result<Intake, Problem> {
    retry_on_conflict(INTAKE_ATTEMPTS, move || async move {
        let now = state.clock.now();
        let standing = state.store.prospect_standing(&submission.prospect_key).await?;
        let ids = IntakeIds {
            referral_id: ReferralId::generate(now, entropy()),
            event_id: EventId::generate(now, entropy()),
        };
        match decide_referral_intake(submission.clone(), partner_id, &standing, &state.terms, now, ids) {
            IntakeDecision::AlreadyReferred(id) => {
                let record = state.store.referral(&id).await?.ok_or_else(Problem::internal)?;
                Ok(Intake::Existing(record))
            }
            IntakeDecision::Accepted(accepted) => match state.store.record_accepted_referral(&accepted).await {
                Ok(()) => {
                    tracing::info!(referral_id = %accepted.referral.id, partner_id = %partner_id, "referral received");
                    Ok(Intake::Created(ReferralRecord {
                        slas: vec![accepted.timer.view()],
                        timers: vec![accepted.timer.clone()],
                        referral: accepted.referral,
                    }))
                }
                Err(e) => Err(e.into()),
            },
            IntakeDecision::Rejected(rejected) => {
                state.store.record_rejected_referral(&rejected).await?;
                tracing::info!(referral_id = %rejected.referral.id, reason = rejected.reason.code(), "referral rejected");
                Err(Attempt::from(Problem::conflict(rejected.reason.code(), rejected.reason.detail())
                    .with("referral_id", rejected.referral.id.to_string())))
            }
        }
    })
    .await
}

async fn get_referral(State(state): State<AppState>, principal: Principal, Path(id): Path<String>) -> ApiResult {
    let id = ReferralId::parse(&id).ok_or_else(Problem::not_found)?;
    let record = state.store.referral(&id).await?.ok_or_else(Problem::not_found)?;
    if principal.partner().is_some_and(|p| p != &record.referral.partner_id) {
        return Err(Problem::not_found());
    }
    Ok(Json(record).into_response())
}

async fn list_referrals(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let page = page_request(&query)?;
    let status =
        match query.get("status") {
            Some(raw) => Some(ReferralStatus::parse(raw).ok_or_else(|| {
                Problem::field("status", "must be received, opportunity_created, won, lost or rejected")
            })?),
            None => None,
        };
    let Some(partner_id) = partner_scope(&principal, &query)? else {
        return Ok(Json(empty()).into_response());
    };
    let page = state.store.referrals(&ReferralQuery { partner_id, status }, &page).await?;
    Ok(Json(ListBody::from(page)).into_response())
}
