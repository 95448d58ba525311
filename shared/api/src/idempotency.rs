//! `Idempotency-Key` on POST: the same key and body from the same principal
//! within 24 h gets the first response again; the same key with another body
//! is a 422 `idempotency_key_reused`.
//!
//! A record is claimed with a conditional write before the handler runs, so
//! two concurrent retries cannot both execute. A 5xx releases the key, since
//! the client should retry it.

use crate::body::read_limited;
use crate::context::ApiContext;
use crate::principal::Principal;
use crate::problem::Problem;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use partnerops_aws::store::{IdempotencyBegin, IdempotencyKey, StoredResponse};
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
const MAX_KEY_CHARS: usize = 255;
/// Responses are small JSON documents; anything larger is not kept.
const MAX_STORED_BODY: usize = 256 * 1024;

fn hex_sha256(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&stored.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Some(v) = stored.location.as_deref().and_then(|l| HeaderValue::from_str(l).ok()) {
        headers.insert(header::LOCATION, v);
    }
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

pub async fn idempotent(State(context): State<ApiContext>, request: Request, next: Next) -> Result<Response, Problem> {
    if request.method() != Method::POST {
        return Ok(next.run(request).await);
    }
    let Some(raw_key) = request.headers().get(HEADER) else {
        return Ok(next.run(request).await);
    };
    let client_key =
        raw_key.to_str().map_err(|_| Problem::field("Idempotency-Key", "must be visible ASCII"))?.to_owned();
    if client_key.is_empty() || client_key.chars().count() > MAX_KEY_CHARS {
        return Err(Problem::field("Idempotency-Key", "must be 1-255 characters"));
    }
    let principal = request.extensions().get::<Principal>().cloned().ok_or_else(Problem::unauthenticated)?;
    let (parts, body) = request.into_parts();
    let bytes = read_limited(&parts.headers, body).await?;
    let key = IdempotencyKey {
        record_key: format!("{}#{}", principal.key_id, hex_sha256(&[client_key.as_bytes()])),
        request_hash: hex_sha256(&[parts.method.as_str().as_bytes(), parts.uri.path().as_bytes(), &bytes]),
    };
    let now = context.clock.now();
    match context.idempotency.idempotency_begin(&key, now).await? {
        IdempotencyBegin::Completed(stored) => return Ok(replay(stored)),
        IdempotencyBegin::InProgress => {
            return Err(Problem::conflict(
                "idempotency_key_in_progress",
                "A request with this Idempotency-Key is still being processed; retry shortly.",
            ));
        }
        IdempotencyBegin::Mismatch => {
            return Err(Problem::unprocessable(
                "idempotency_key_reused",
                "This Idempotency-Key was used for a different request.",
            ));
        }
        IdempotencyBegin::Started => {}
    }
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let (head, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, MAX_STORED_BODY).await {
        Ok(body) => body,
        Err(_) => {
            context.idempotency.idempotency_abandon(&key).await?;
            return Err(Problem::internal());
        }
    };
    if head.status.is_server_error() {
        context.idempotency.idempotency_abandon(&key).await?;
    } else {
        let stored = StoredResponse {
            status: head.status.as_u16(),
            location: head.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned),
            content_type: head
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_owned(),
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        // The work is done: answer it even if the record cannot be kept (the
        // key's lease then lapses and a retry runs the request again).
        if let Err(e) = context.idempotency.idempotency_complete(&key, &stored, now).await {
            tracing::warn!(error = %e, "could not keep the response for an Idempotency-Key");
        }
    }
    Ok(Response::from_parts(head, Body::from(body)))
}
