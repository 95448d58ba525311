//! `crm-events`: opportunity lifecycle events from the CRM, and opportunity
//! reads (SPEC §7).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use partnerops_api::problem::ApiResult;
use partnerops_api::problem::retry_on_conflict;
use partnerops_api::{ApiJson, AppState, Principal, Problem, Route, build_router, entropy};
use partnerops_aws::StoreError;
use partnerops_aws::store::OpportunityRecord;
use partnerops_domain::auth::Role;
use partnerops_domain::crm::{
    CrmEvent, CrmEventDraft, CrmEventKind, CrmParseError, CrmRefusal, Opportunity, Source, SourceFacts,
    apply_to_opportunity, create_opportunity,
};
use partnerops_domain::id::EventId;
use partnerops_domain::registration::RegistrationStatus;
use partnerops_domain::sla::{SlaKind, SlaView};
use serde::Serialize;

const ATTEMPTS: usize = 5;

pub fn routes() -> Vec<Route> {
    vec![
        Route::post("/v1/crm/events", &[Role::Crm], post_event),
        Route::get(
            "/v1/opportunities/{id}",
            &[Role::Crm, Role::ChannelManager, Role::Finance, Role::Admin, Role::Partner],
            get_opportunity,
        ),
    ]
}

pub fn router(state: AppState) -> axum::Router {
    build_router(routes(), state)
}

#[derive(Serialize)]
struct OpportunityBody {
    #[serde(flatten)]
    opportunity: Opportunity,
    slas: Vec<SlaView>,
}

fn body(record: OpportunityRecord) -> OpportunityBody {
    OpportunityBody { slas: record.timers.iter().map(|t| t.view()).collect(), opportunity: record.opportunity }
}

fn refused(refusal: CrmRefusal) -> Problem {
    match refusal {
        CrmRefusal::UnknownOpportunity => Problem::new(StatusCode::NOT_FOUND, "not_found", refusal.to_string()),
        CrmRefusal::OpportunityExists => Problem::conflict("opportunity_exists", refusal.to_string()),
        CrmRefusal::SourceUnavailable(_) => Problem::conflict("source_unavailable", refusal.to_string()),
        CrmRefusal::UnknownMeeting => Problem::field("meeting_id", &refusal.to_string()),
        CrmRefusal::NotWon => Problem::conflict("not_won", refusal.to_string()),
        CrmRefusal::RefundExceedsAmount => Problem::unprocessable("refund_exceeds_amount", refusal.to_string()),
        CrmRefusal::CurrencyMismatch => Problem::field("amount", &refusal.to_string()),
    }
}

fn duplicate() -> axum::response::Response {
    Json(serde_json::json!({ "duplicate": true })).into_response()
}

/// What a referral or registration offers a new opportunity.
async fn source_facts(state: &AppState, source: &Source) -> Result<SourceFacts, Problem> {
    match source {
        Source::Referral(id) => {
            let record =
                state.store.referral(id).await?.ok_or_else(|| Problem::field("referral_id", "no such referral"))?;
            let r = &record.referral;
            if r.opportunity_id.is_some() || r.status.as_str() != "received" {
                return Err(refused(CrmRefusal::SourceUnavailable("the referral is not open")));
            }
            Ok(SourceFacts {
                source: source.clone(),
                partner_id: r.partner_id.clone(),
                prospect_key: r.prospect_key.clone(),
                motion: r.motion,
                status: r.status.as_str().to_owned(),
                creation_timer: record.timers.iter().find(|t| t.kind == SlaKind::OpportunityCreation).cloned(),
            })
        }
        Source::Registration(id) => {
            let record = state
                .store
                .registration(id)
                .await?
                .ok_or_else(|| Problem::field("deal_registration_id", "no such deal registration"))?;
            let r = &record.registration;
            // Only an approval protects a deal; a pending registration still sits
            // in its customer's queue, which a close must not leave behind.
            if r.status != RegistrationStatus::Approved || r.opportunity_id.is_some() {
                return Err(refused(CrmRefusal::SourceUnavailable(
                    "the registration is not approved, or is linked already",
                )));
            }
            Ok(SourceFacts {
                source: source.clone(),
                partner_id: r.partner_id.clone(),
                prospect_key: r.customer_key.clone(),
                motion: r.motion,
                status: r.status.as_str().to_owned(),
                creation_timer: None,
            })
        }
    }
}

async fn post_event(State(state): State<AppState>, ApiJson(draft): ApiJson<CrmEventDraft>) -> ApiResult {
    let now = state.clock.now();
    let event = CrmEvent::parse(draft, now).map_err(|e| match e {
        CrmParseError::Fields(errors) => Problem::validation(errors),
        CrmParseError::AttributionOver100 => Problem::unprocessable(
            "attribution_exceeds_100_percent",
            "The attribution shares add up to more than 10000 basis points.",
        ),
    })?;
    if state.store.crm_event_seen(&event.event_id, now).await? {
        return Ok(duplicate());
    }
    let state = &state;
    let event = &event;
    retry_on_conflict(ATTEMPTS, move || async move {
        let now = state.clock.now();
        let existing = state.store.opportunity(&event.opportunity_id).await?;
        let event_id = EventId::generate(now, entropy());
        let change = match (&event.kind, &existing) {
            (CrmEventKind::OpportunityCreated { source, .. }, None) => {
                let facts = source_facts(state, source).await?;
                Some(create_opportunity(event, &facts, &state.terms, now, event_id).map_err(refused)?)
            }
            (_, Some(record)) => {
                apply_to_opportunity(event, &record.opportunity, &record.timers, &state.terms, now, event_id)
                    .map_err(refused)?
            }
            (_, None) => return Err(refused(CrmRefusal::UnknownOpportunity).into()),
        };
        let Some(change) = change else {
            let record = existing.ok_or_else(Problem::internal)?;
            return Ok(Json(serde_json::json!({ "duplicate": false, "changed": false, "opportunity": body(record) }))
                .into_response());
        };
        match state.store.apply_crm(&change, now).await {
            Ok(()) => {
                tracing::info!(opportunity_id = %change.opportunity.id, events = change.events.len(), "CRM event applied");
                let record = OpportunityRecord { opportunity: change.opportunity, timers: change.opportunity_timers };
                Ok(Json(
                    serde_json::json!({ "duplicate": false, "changed": true, "opportunity": body(record) }),
                )
                .into_response())
            }
            Err(StoreError::AlreadyApplied) => Ok(duplicate()),
            Err(e) => Err(e.into()),
        }
    })
    .await
}

async fn get_opportunity(State(state): State<AppState>, principal: Principal, Path(id): Path<String>) -> ApiResult {
    if !partnerops_domain::crm::is_external_id(&id) {
        return Err(Problem::not_found());
    }
    let record = state.store.opportunity(&id).await?.ok_or_else(Problem::not_found)?;
    if let Some(partner) = principal.partner()
        && !record.opportunity.attribution.iter().any(|a| &a.partner_id == partner)
    {
        return Err(Problem::not_found());
    }
    Ok(Json(body(record)).into_response())
}
