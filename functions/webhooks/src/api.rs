//! The endpoints API: a partner manages its own endpoints; an admin any
//! partner's. Another partner's endpoint is 404, never 403: ids reveal nothing.

use crate::Webhooks;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use partnerops_api::list::{ListBody, page_request};
use partnerops_api::problem::ApiResult;
use partnerops_api::{ApiContext, ApiJson, Principal, Problem, Route, build_router};
use partnerops_app::entropy;
use partnerops_app::retry::retry_on_conflict;
use partnerops_aws::Clock;
use partnerops_aws::store::{Partners, WebhookDeliveries, WebhookEndpoints};
use partnerops_domain::Timestamp;
use partnerops_domain::auth::Role;
use partnerops_domain::partner::PartnerId;
use partnerops_domain::webhook::{
    Delivery, DeliveryState, Endpoint, EndpointDraft, EndpointId, EndpointStatus, MAX_ENDPOINTS_PER_PARTNER, Message,
    MessageId, RetryRefusal, SECRET_BYTES, Secret, check_url, manual_retry, new_endpoint,
};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

const ROLES: &[Role] = &[Role::Partner, Role::Admin];
const WRITE_ATTEMPTS: usize = 3;

/// What the endpoint routes read and write: endpoints and their deliveries,
/// and the partners they belong to.
pub trait EndpointStore: WebhookEndpoints + WebhookDeliveries + Partners {}

impl<T: WebhookEndpoints + WebhookDeliveries + Partners + ?Sized> EndpointStore for T {}

#[derive(Clone)]
pub struct WebhookApi {
    pub store: Arc<dyn EndpointStore>,
    pub clock: Arc<dyn Clock>,
    /// Attempts a test message or a retry at once.
    pub webhooks: Arc<Webhooks>,
}

pub fn routes() -> Vec<Route<WebhookApi>> {
    vec![
        Route::post("/v1/webhooks/endpoints", ROLES, create_endpoint),
        Route::get("/v1/webhooks/endpoints", ROLES, list_endpoints),
        Route::get("/v1/webhooks/endpoints/{id}", ROLES, get_endpoint),
        Route::delete("/v1/webhooks/endpoints/{id}", ROLES, delete_endpoint),
        Route::post("/v1/webhooks/endpoints/{id}/rotate-secret", ROLES, rotate_secret),
        Route::post("/v1/webhooks/endpoints/{id}/test", ROLES, send_test),
        Route::get("/v1/webhooks/endpoints/{id}/deliveries", ROLES, list_deliveries),
        Route::post("/v1/webhooks/endpoints/{id}/deliveries/{message_id}/retry", ROLES, retry_delivery),
    ]
}

pub fn router(context: &ApiContext, state: WebhookApi) -> axum::Router {
    build_router(routes(), context, state)
}

/// An endpoint as the API shows it: never its secret, except in the answer
/// that made the secret.
#[derive(Serialize)]
struct EndpointView<'a> {
    id: &'a EndpointId,
    partner_id: &'a PartnerId,
    url: &'a str,
    events: &'a [String],
    description: Option<&'a str>,
    status: EndpointStatus,
    disabled_reason: Option<&'a str>,
    created_at: Timestamp,
    /// While a rotation's previous secret still signs.
    previous_secret_expires_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

fn view(endpoint: &Endpoint, now: Timestamp, with_secret: bool) -> EndpointView<'_> {
    EndpointView {
        id: &endpoint.id,
        partner_id: &endpoint.partner_id,
        url: &endpoint.url,
        events: &endpoint.events,
        description: endpoint.description.as_deref(),
        status: endpoint.status,
        disabled_reason: endpoint.disabled_reason.as_deref(),
        created_at: endpoint.created_at,
        previous_secret_expires_at: endpoint.previous_secret.as_ref().map(|p| p.until).filter(|until| now < *until),
        secret: with_secret.then(|| endpoint.secret.reveal()),
    }
}

#[derive(Serialize)]
struct DeliveryView<'a> {
    message_id: &'a MessageId,
    #[serde(rename = "type")]
    event_type: &'a str,
    state: DeliveryState,
    attempts: u32,
    last_status: Option<u16>,
    next_attempt_at: Option<Timestamp>,
    created_at: Timestamp,
    last_attempt_at: Option<Timestamp>,
    last_error: Option<&'a str>,
    /// The start (up to 1 KB) of the receiver's last answer.
    last_response: Option<&'a str>,
}

fn delivery_view(d: &Delivery) -> DeliveryView<'_> {
    DeliveryView {
        message_id: &d.message_id,
        event_type: &d.event_type,
        state: d.state,
        attempts: d.attempts,
        last_status: d.last_status,
        // While an attempt runs its lease is not a schedule.
        next_attempt_at: match d.state {
            DeliveryState::Pending => d.next_attempt_at,
            _ => None,
        },
        created_at: d.created_at,
        last_attempt_at: d.last_attempt_at,
        last_error: d.last_error.as_deref(),
        last_response: d.last_response.as_deref(),
    }
}

fn url_refused(detail: String) -> Problem {
    Problem::unprocessable("webhook_url_not_allowed", detail).with("field", "url")
}

/// Whose endpoint a request is about: a partner's own; for an admin the
/// partner it names.
fn owner(principal: &Principal, named: Option<&str>) -> Result<PartnerId, Problem> {
    if let Some(own) = principal.partner() {
        return match named {
            Some(other) if other != own.as_str() => {
                Err(Problem::field("partner_id", "a partner key manages its own endpoints only"))
            }
            _ => Ok(own.clone()),
        };
    }
    let raw = named.ok_or_else(|| Problem::field("partner_id", "is required: whose endpoint this is"))?;
    PartnerId::parse(raw).map_err(|m| Problem::field("partner_id", m))
}

/// The endpoint, if the caller may see it: 404 for another partner's.
async fn visible(state: &WebhookApi, principal: &Principal, raw: &str) -> Result<Endpoint, Problem> {
    let id = EndpointId::parse(raw).ok_or_else(Problem::not_found)?;
    let endpoint = state.store.endpoint(&id).await?.ok_or_else(Problem::not_found)?;
    match principal.partner() {
        Some(own) if own != &endpoint.partner_id => Err(Problem::not_found()),
        _ => Ok(endpoint),
    }
}

async fn create_endpoint(
    State(state): State<WebhookApi>,
    principal: Principal,
    ApiJson(draft): ApiJson<EndpointDraft>,
) -> ApiResult {
    let now = state.clock.now();
    let partner = owner(&principal, draft.partner_id.as_deref())?;
    let Some(raw_url) = draft.url.clone() else {
        return Err(Problem::field("url", "is required: the https:// URL to deliver to"));
    };
    let url = check_url(&raw_url, state.webhooks.policy).map_err(|e| url_refused(format!("The URL {e}.")))?;
    if state.store.partner(&partner).await?.is_none() {
        return Err(Problem::field("partner_id", "no partner has this id"));
    }
    let endpoint = new_endpoint(
        draft,
        partner.clone(),
        &url,
        EndpointId::generate(now, entropy()),
        Secret::from_bytes(rand::random::<[u8; SECRET_BYTES]>()),
        now,
    )
    .map_err(Problem::validation)?;
    state.webhooks.sender.check(&endpoint.url).await.map_err(|e| url_refused(format!("The URL's host: {e}.")))?;
    if state.store.partner_endpoints(&partner).await?.len() >= MAX_ENDPOINTS_PER_PARTNER {
        return Err(Problem::conflict(
            "endpoint_limit",
            format!("A partner may have {MAX_ENDPOINTS_PER_PARTNER} endpoints; delete one first."),
        ));
    }
    state.store.create_endpoint(&endpoint).await?;
    tracing::info!(endpoint_id = %endpoint.id, partner_id = %partner, "webhook endpoint created");
    let location = format!("/v1/webhooks/endpoints/{}", endpoint.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(view(&endpoint, now, true))).into_response())
}

async fn list_endpoints(
    State(state): State<WebhookApi>,
    principal: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let now = state.clock.now();
    let partner = owner(&principal, query.get("partner_id").map(String::as_str))?;
    let endpoints = state.store.partner_endpoints(&partner).await?;
    let items: Vec<EndpointView<'_>> = endpoints.iter().map(|e| view(e, now, false)).collect();
    Ok(Json(ListBody { items, next_cursor: None }).into_response())
}

async fn get_endpoint(State(state): State<WebhookApi>, principal: Principal, Path(id): Path<String>) -> ApiResult {
    let endpoint = visible(&state, &principal, &id).await?;
    Ok(Json(view(&endpoint, state.clock.now(), false)).into_response())
}

async fn delete_endpoint(State(state): State<WebhookApi>, principal: Principal, Path(id): Path<String>) -> ApiResult {
    let endpoint = visible(&state, &principal, &id).await?;
    if !state.store.delete_endpoint(&endpoint.id).await? {
        return Err(Problem::not_found());
    }
    tracing::info!(endpoint_id = %endpoint.id, "webhook endpoint deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A write that kept losing to concurrent ones is a 409 `concurrent_update`.
fn kept_changing(problem: Problem, detail: &str) -> Problem {
    if problem.code == "busy" { Problem::conflict("concurrent_update", detail) } else { problem }
}

async fn rotate_secret(State(state): State<WebhookApi>, principal: Principal, Path(id): Path<String>) -> ApiResult {
    let (state, principal, id) = (&state, &principal, &id);
    retry_on_conflict(WRITE_ATTEMPTS, || async move {
        let endpoint = visible(state, principal, id).await?;
        let now = state.clock.now();
        let rotated = endpoint.rotated(Secret::from_bytes(rand::random::<[u8; SECRET_BYTES]>()), now);
        state.store.save_endpoint(endpoint.version, &rotated).await?;
        tracing::info!(endpoint_id = %rotated.id, "webhook secret rotated");
        Ok(Json(view(&rotated, now, true)).into_response())
    })
    .await
    .map_err(|p| kept_changing(p, "The endpoint kept changing; try again."))
}

fn require_enabled(endpoint: &Endpoint) -> Result<(), Problem> {
    match endpoint.status {
        EndpointStatus::Enabled => Ok(()),
        EndpointStatus::Disabled => Err(Problem::conflict(
            "endpoint_disabled",
            "The endpoint is disabled; create a new one once the receiver works.",
        )),
    }
}

/// Sends a `webhook.test` message now and answers with how it went.
async fn send_test(State(state): State<WebhookApi>, principal: Principal, Path(id): Path<String>) -> ApiResult {
    let endpoint = visible(&state, &principal, &id).await?;
    require_enabled(&endpoint)?;
    let now = state.clock.now();
    let delivery = Message::test(endpoint.partner_id.clone(), now, entropy(), &endpoint.id).delivery_to(&endpoint, now);
    state.store.create_delivery(&delivery).await?;
    state.webhooks.attempt(&delivery).await.map_err(internal)?;
    let done = state.store.delivery(&endpoint.id, &delivery.message_id).await?.unwrap_or(delivery);
    Ok((StatusCode::OK, Json(delivery_view(&done))).into_response())
}

fn internal(e: anyhow::Error) -> Problem {
    tracing::error!(error = %format!("{e:#}"), "webhook attempt failed");
    Problem::internal()
}

async fn list_deliveries(
    State(state): State<WebhookApi>,
    principal: Principal,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let page = page_request(&query)?;
    let endpoint = visible(&state, &principal, &id).await?;
    let deliveries = state.store.deliveries(&endpoint.id, &page).await?;
    let items: Vec<DeliveryView<'_>> = deliveries.items.iter().map(delivery_view).collect();
    Ok(Json(ListBody { items, next_cursor: deliveries.next_cursor.clone() }).into_response())
}

/// Tries a message again now, whatever its schedule said.
async fn retry_delivery(
    State(state): State<WebhookApi>,
    principal: Principal,
    Path((id, message)): Path<(String, String)>,
) -> ApiResult {
    let endpoint = visible(&state, &principal, &id).await?;
    let message = MessageId::parse(&message).ok_or_else(Problem::not_found)?;
    require_enabled(&endpoint)?;
    let (state, endpoint, message) = (&state, &endpoint, &message);
    retry_on_conflict(WRITE_ATTEMPTS, || async move {
        let current = state.store.delivery(&endpoint.id, message).await?.ok_or_else(Problem::not_found)?;
        let now = state.clock.now();
        let again = manual_retry(&current, now).map_err(|RetryRefusal::Succeeded| {
            Problem::conflict("already_delivered", "The message was delivered to this endpoint already.")
        })?;
        state.store.save_delivery(current.version, &again).await?;
        state.webhooks.attempt(&again).await.map_err(internal)?;
        let done = state.store.delivery(&endpoint.id, message).await?.unwrap_or(again);
        Ok(Json(delivery_view(&done)).into_response())
    })
    .await
    .map_err(|p| kept_changing(p, "The delivery is being attempted right now; try again shortly."))
}
