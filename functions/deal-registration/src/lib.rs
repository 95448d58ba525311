//! `deal-registration`: partners register deals; channel managers decide
//! them; partners withdraw their own (SPEC §6).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use partnerops_api::list::{ListBody, empty, page_request, partner_scope};
use partnerops_api::problem::ApiResult;
use partnerops_api::{ApiContext, ApiJson, Principal, Problem, Route, build_router};
use partnerops_app::registrations::{self, SubmissionStore, position};
use partnerops_aws::Clock;
use partnerops_aws::store::{RegistrationQuery, RegistrationRecord};
use partnerops_domain::auth::Role;
use partnerops_domain::id::RegistrationId;
use partnerops_domain::registration::{
    Decision, DecisionDraft, RegistrationDraft, RegistrationStatus, RegistrationSubmission,
};
use partnerops_domain::sla::SlaView;
use partnerops_domain::terms::ProgramTerms;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// What the registration routes use: the registrations with their queues,
/// the customers' standing, the clock and the program terms.
#[derive(Clone)]
pub struct RegistrationApi {
    pub store: Arc<dyn SubmissionStore>,
    pub clock: Arc<dyn Clock>,
    pub terms: Arc<ProgramTerms>,
}

pub fn routes() -> Vec<Route<RegistrationApi>> {
    vec![
        Route::post("/v1/deal-registrations", &[Role::Partner], submit),
        Route::get("/v1/deal-registrations", READERS, list),
        Route::get("/v1/deal-registrations/{id}", READERS, get_one),
        Route::post("/v1/deal-registrations/{id}/decision", &[Role::ChannelManager], decide),
        Route::post("/v1/deal-registrations/{id}/withdraw", &[Role::Partner], withdraw),
        Route::get("/v1/deal-registrations/{id}/history", READERS, history),
    ]
}

pub fn router(context: &ApiContext, state: RegistrationApi) -> axum::Router {
    build_router(routes(), context, state)
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

async fn submit(
    State(state): State<RegistrationApi>,
    principal: Principal,
    ApiJson(draft): ApiJson<RegistrationDraft>,
) -> ApiResult {
    let partner = principal.partner_record.clone().ok_or_else(Problem::forbidden)?;
    let today = state.clock.now().as_datetime().date_naive();
    let submission = RegistrationSubmission::parse(draft, today).map_err(Problem::validation)?;
    let submitted = registrations::submit(&*state.store, &*state.clock, &state.terms, &partner, &submission).await?;
    let created = submitted.created;
    let response = Json(body(submitted.record, submitted.position));
    if created {
        let location = format!("/v1/deal-registrations/{}", response.0.registration.id);
        Ok((StatusCode::CREATED, [(header::LOCATION, location)], response).into_response())
    } else {
        Ok(response.into_response())
    }
}

/// The registration if this caller may see it (another partner's is 404).
async fn visible(state: &RegistrationApi, principal: &Principal, id: &str) -> Result<RegistrationRecord, Problem> {
    let id = RegistrationId::parse(id).ok_or_else(Problem::not_found)?;
    let record = state.store.registration(&id).await?.ok_or_else(Problem::not_found)?;
    if principal.partner().is_some_and(|p| p != &record.registration.partner_id) {
        return Err(Problem::not_found());
    }
    Ok(record)
}

async fn get_one(State(state): State<RegistrationApi>, principal: Principal, Path(id): Path<String>) -> ApiResult {
    let record = visible(&state, &principal, &id).await?;
    let position = position(&*state.store, &record).await?;
    Ok(Json(body(record, position)).into_response())
}

async fn history(State(state): State<RegistrationApi>, principal: Principal, Path(id): Path<String>) -> ApiResult {
    let record = visible(&state, &principal, &id).await?;
    let entries = state.store.registration_history(&record.registration.id).await?;
    Ok(Json(serde_json::json!({ "items": entries })).into_response())
}

async fn list(
    State(state): State<RegistrationApi>,
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

async fn decide(
    State(state): State<RegistrationApi>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(draft): ApiJson<DecisionDraft>,
) -> ApiResult {
    let id = RegistrationId::parse(&id).ok_or_else(Problem::not_found)?;
    let decision = Decision::parse(draft).map_err(Problem::validation)?;
    let record =
        registrations::decide(&*state.store, &*state.clock, &state.terms, &id, &decision, principal.key_id.as_str())
            .await?;
    Ok(Json(body(record, None)).into_response())
}

async fn withdraw(State(state): State<RegistrationApi>, principal: Principal, Path(id): Path<String>) -> ApiResult {
    let id = RegistrationId::parse(&id).ok_or_else(Problem::not_found)?;
    let partner = principal.partner().cloned().ok_or_else(Problem::not_found)?;
    let record = registrations::withdraw(&*state.store, &*state.clock, &state.terms, &partner, &id).await?;
    Ok(Json(body(record, None)).into_response())
}
