//! `crm-events`: opportunity lifecycle events from the CRM, and opportunity
//! reads (SPEC §7).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use partnerops_api::problem::ApiResult;
use partnerops_api::{ApiContext, ApiJson, Principal, Problem, Route, build_router};
use partnerops_app::crm::{Applied, CrmStore, apply_event};
use partnerops_aws::Clock;
use partnerops_aws::store::OpportunityRecord;
use partnerops_domain::auth::Role;
use partnerops_domain::crm::{CrmEvent, CrmEventDraft, CrmParseError, Opportunity};
use partnerops_domain::sla::SlaView;
use partnerops_domain::terms::ProgramTerms;
use serde::Serialize;
use std::sync::Arc;

/// What the CRM routes use: the opportunities and the records they link,
/// the clock and the program terms.
#[derive(Clone)]
pub struct CrmApi {
    pub store: Arc<dyn CrmStore>,
    pub clock: Arc<dyn Clock>,
    pub terms: Arc<ProgramTerms>,
}

pub fn routes() -> Vec<Route<CrmApi>> {
    vec![
        Route::post("/v1/crm/events", &[Role::Crm], post_event),
        Route::get(
            "/v1/opportunities/{id}",
            &[Role::Crm, Role::ChannelManager, Role::Finance, Role::Admin, Role::Partner],
            get_opportunity,
        ),
    ]
}

pub fn router(context: &ApiContext, state: CrmApi) -> axum::Router {
    build_router(routes(), context, state)
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

async fn post_event(State(state): State<CrmApi>, ApiJson(draft): ApiJson<CrmEventDraft>) -> ApiResult {
    let event = CrmEvent::parse(draft, state.clock.now()).map_err(|e| match e {
        CrmParseError::Fields(errors) => Problem::validation(errors),
        CrmParseError::AttributionOver100 => Problem::unprocessable(
            "attribution_exceeds_100_percent",
            "The attribution shares add up to more than 10000 basis points.",
        ),
    })?;
    let answer = match apply_event(&*state.store, &*state.clock, &state.terms, &event).await? {
        Applied::Duplicate => serde_json::json!({ "duplicate": true }),
        Applied::Unchanged(record) => {
            serde_json::json!({ "duplicate": false, "changed": false, "opportunity": body(record) })
        }
        Applied::Changed(record) => {
            serde_json::json!({ "duplicate": false, "changed": true, "opportunity": body(record) })
        }
    };
    Ok(Json(answer).into_response())
}

async fn get_opportunity(State(state): State<CrmApi>, principal: Principal, Path(id): Path<String>) -> ApiResult {
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
