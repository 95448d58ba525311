//! `referral-intake`: partners submit referrals; partners, channel managers
//! and admins read them (SPEC §5).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use partnerops_api::list::{ListBody, empty, page_request, partner_scope};
use partnerops_api::problem::ApiResult;
use partnerops_api::{ApiContext, ApiJson, Principal, Problem, Route, build_router};
use partnerops_app::referrals::{Intake, IntakeStore, intake};
use partnerops_aws::Clock;
use partnerops_aws::store::ReferralQuery;
use partnerops_domain::auth::Role;
use partnerops_domain::id::ReferralId;
use partnerops_domain::referral::{ReferralDraft, ReferralStatus, ReferralSubmission};
use partnerops_domain::terms::ProgramTerms;
use std::collections::HashMap;
use std::sync::Arc;

/// What the referral routes use: intake's ports (its reads are the
/// referrals), the clock and the program terms.
#[derive(Clone)]
pub struct ReferralApi {
    pub store: Arc<dyn IntakeStore>,
    pub clock: Arc<dyn Clock>,
    pub terms: Arc<ProgramTerms>,
}

pub fn routes() -> Vec<Route<ReferralApi>> {
    vec![
        Route::post("/v1/referrals", &[Role::Partner], submit_referral),
        Route::get("/v1/referrals", READERS, list_referrals),
        Route::get("/v1/referrals/{id}", READERS, get_referral),
    ]
}

pub fn router(context: &ApiContext, state: ReferralApi) -> axum::Router {
    build_router(routes(), context, state)
}

const READERS: &[Role] = &[Role::Partner, Role::ChannelManager, Role::Admin];

async fn submit_referral(
    State(state): State<ReferralApi>,
    principal: Principal,
    ApiJson(draft): ApiJson<ReferralDraft>,
) -> ApiResult {
    let partner_id = principal.partner().cloned().ok_or_else(Problem::forbidden)?;
    let submission = ReferralSubmission::parse(draft).map_err(Problem::validation)?;
    match intake(&*state.store, &*state.clock, &state.terms, &partner_id, &submission).await? {
        Intake::Existing(record) => Ok((StatusCode::OK, Json(record)).into_response()),
        Intake::Created(record) => {
            let location = format!("/v1/referrals/{}", record.referral.id);
            Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(record)).into_response())
        }
    }
}

async fn get_referral(State(state): State<ReferralApi>, principal: Principal, Path(id): Path<String>) -> ApiResult {
    let id = ReferralId::parse(&id).ok_or_else(Problem::not_found)?;
    let record = state.store.referral(&id).await?.ok_or_else(Problem::not_found)?;
    if principal.partner().is_some_and(|p| p != &record.referral.partner_id) {
        return Err(Problem::not_found());
    }
    Ok(Json(record).into_response())
}

async fn list_referrals(
    State(state): State<ReferralApi>,
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
