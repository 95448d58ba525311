//! Dev-only routes (`/_dev/*`): never part of a Lambda or the template.

use crate::stream::RelayHealth;
use crate::tick::{RelayStalled, Shared};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use partnerops_api::Problem;
use partnerops_api::body::ApiJson;
use partnerops_aws::Clock;
use partnerops_domain::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub fn dev_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_dev/health", get(health))
        .route("/_dev/clock", post(move_clock).get(read_clock))
        .route("/_dev/tick", post(tick))
        .route("/_dev/outbox", get(outbox))
        .route("/_dev/keys", get(keys))
        .with_state(shared)
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let now = shared.clock.now();
    match shared.relay.lock().await.health() {
        RelayHealth::Ok => Json(serde_json::json!({ "status": "ok", "now": now })).into_response(),
        RelayHealth::Stalled(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "relay_stalled", "relay": reason, "now": now })),
        )
            .into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct ClockMove {
    advance: Option<String>,
    set: Option<String>,
}

#[derive(Serialize)]
struct ClockBody {
    now: Timestamp,
    frozen: bool,
}

async fn read_clock(State(shared): State<Arc<Shared>>) -> Response {
    Json(ClockBody { now: shared.clock.now(), frozen: shared.clock.is_frozen() }).into_response()
}

async fn move_clock(State(shared): State<Arc<Shared>>, ApiJson(body): ApiJson<ClockMove>) -> Result<Response, Problem> {
    let now = match (body.advance, body.set) {
        (Some(advance), None) => {
            let duration = humantime::parse_duration(&advance)
                .map_err(|e| Problem::field("advance", &format!("must be a duration such as 25h or 15m: {e}")))?;
            let duration =
                chrono::Duration::from_std(duration).map_err(|_| Problem::field("advance", "is too long"))?;
            shared.clock.advance(duration)
        }
        (None, Some(set)) => {
            let at = Timestamp::parse(&set).map_err(|e| Problem::field("set", &e.to_string()))?;
            shared
                .clock
                .set(at)
                .map_err(|backwards| Problem::new(StatusCode::CONFLICT, "clock_backwards", backwards.to_string()))?;
            at
        }
        _ => return Err(Problem::field("", "give exactly one of advance or set")),
    };
    tracing::info!(now = %now, "dev clock moved");
    Ok(Json(ClockBody { now, frozen: true }).into_response())
}

async fn tick(State(shared): State<Arc<Shared>>) -> Result<Response, Problem> {
    let summary = shared.tick().await.map_err(|e| {
        tracing::error!(error = %format!("{e:#}"), "tick failed");
        match e.downcast_ref::<RelayStalled>() {
            Some(stalled) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "relay_stalled", stalled.to_string()),
            None => Problem::internal(),
        }
    })?;
    Ok((StatusCode::OK, Json(summary)).into_response())
}

async fn outbox(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.sent.lock().map(|s| s.clone()).unwrap_or_default()).into_response()
}

/// The admin key and, when the demo is seeded, one key per role (the demo
/// partner's as `partner`), by role name: what the stack printed at start,
/// for scripts on this machine.
async fn keys(State(shared): State<Arc<Shared>>) -> Response {
    let keys: serde_json::Map<String, serde_json::Value> =
        shared.keys.iter().map(|(role, key)| (role.to_string(), serde_json::Value::String(key.clone()))).collect();
    Json(keys).into_response()
}
