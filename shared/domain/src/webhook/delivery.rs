//! One message's delivery to one endpoint: attempts claimed, recorded and
//! retried on the schedule of SPEC §18.

use crate::Timestamp;
use crate::id::{EndpointId, MessageId};
use crate::partner::PartnerId;
use chrono::Duration;
use serde::{Deserialize, Serialize};

/// Seconds from one failed attempt to the next: the first attempt and these
/// seven retries, then the message is `failed`.
pub const RETRY_DELAYS_SECONDS: [i64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
pub const MAX_ATTEMPTS: u32 = RETRY_DELAYS_SECONDS.len() as u32 + 1;
/// A receiver answers within this many seconds or the attempt failed.
pub const TIMEOUT_SECONDS: u64 = 10;
/// How much of a receiver's answer is kept, for the deliveries log.
pub const RESPONSE_KEEP_BYTES: usize = 1024;
/// How long a claimed attempt holds before the retry sweep may take it over:
/// well over the timeout, so a slow receiver is never called twice at once.
pub const ATTEMPT_LEASE_SECONDS: i64 = 60;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx within the timeout.
    Succeeded { status: u16, response: String },
    /// 410: the receiver wants no more; the endpoint is disabled at once.
    Gone { response: String },
    /// Any other status, a timeout, a refused or failed connection.
    Failed { status: Option<u16>, error: String, response: String },
}

impl Outcome {
    /// The outcome of a response with `status` and (the start of) its body.
    pub fn of_status(status: u16, body: &[u8]) -> Self {
        let response = keep_response(body);
        match status {
            200..=299 => Self::Succeeded { status, response },
            410 => Self::Gone { response },
            _ => Self::Failed { status: Some(status), error: format!("the receiver answered {status}"), response },
        }
    }
}

/// At most [`RESPONSE_KEEP_BYTES`] of a response, cut at a character boundary.
pub fn keep_response(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(RESPONSE_KEEP_BYTES)]).into_owned();
    let mut end = text.len().min(RESPONSE_KEEP_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Succeeded,
    Failed,
}

/// One message to one endpoint, and how its attempts went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub endpoint_id: EndpointId,
    pub partner_id: PartnerId,
    pub message_id: MessageId,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The exact body every attempt sends.
    pub body: String,
    pub created_at: Timestamp,
    pub state: DeliveryState,
    pub attempts: u32,
    /// When the next attempt is due (while pending; a claimed attempt holds
    /// it [`ATTEMPT_LEASE_SECONDS`] ahead).
    pub next_attempt_at: Option<Timestamp>,
    #[serde(default)]
    pub last_attempt_at: Option<Timestamp>,
    #[serde(default)]
    pub last_status: Option<u16>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_response: Option<String>,
    pub version: u64,
}

/// A claim on the next attempt: the delivery with the attempt counted and
/// its due time held by a lease; `None` when it is not due (or not pending).
pub fn claim(delivery: &Delivery, now: Timestamp) -> Option<Delivery> {
    if delivery.state != DeliveryState::Pending || delivery.next_attempt_at.is_none_or(|due| due > now) {
        return None;
    }
    let mut next = delivery.clone();
    next.attempts += 1;
    next.next_attempt_at = Some(now.plus(Duration::seconds(ATTEMPT_LEASE_SECONDS)));
    next.version += 1;
    Some(next)
}

/// The delivery after the claimed attempt, made at `at`, came to `outcome`.
pub fn record(claimed: &Delivery, outcome: &Outcome, at: Timestamp) -> Delivery {
    let mut next = claimed.clone();
    next.last_attempt_at = Some(at);
    next.version += 1;
    match outcome {
        Outcome::Succeeded { status, response } => {
            next.state = DeliveryState::Succeeded;
            next.next_attempt_at = None;
            next.last_status = Some(*status);
            next.last_error = None;
            next.last_response = Some(response.clone());
        }
        Outcome::Gone { response } => {
            next.state = DeliveryState::Failed;
            next.next_attempt_at = None;
            next.last_status = Some(410);
            next.last_error = Some("the receiver answered 410 Gone: the endpoint is disabled".into());
            next.last_response = Some(response.clone());
        }
        Outcome::Failed { status, error, response } => {
            next.last_status = *status;
            next.last_error = Some(error.clone());
            next.last_response = Some(response.clone());
            match retry_delay(claimed.attempts) {
                Some(delay) => next.next_attempt_at = Some(at.plus(delay)),
                None => {
                    next.state = DeliveryState::Failed;
                    next.next_attempt_at = None;
                }
            }
        }
    }
    next
}

/// The wait after failed attempt number `attempt` (1-based); `None` after
/// the last.
pub fn retry_delay(attempt: u32) -> Option<Duration> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    RETRY_DELAYS_SECONDS.get(index).map(|s| Duration::seconds(*s))
}

/// A delivery whose endpoint is gone or disabled: it ends without an attempt.
pub fn abandon(delivery: &Delivery, reason: &str, now: Timestamp) -> Delivery {
    let mut next = delivery.clone();
    next.state = DeliveryState::Failed;
    next.next_attempt_at = None;
    next.last_error = Some(reason.into());
    next.last_attempt_at = next.last_attempt_at.or(Some(now));
    next.version += 1;
    next
}

/// Why a manual retry is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RetryRefusal {
    #[error("the message was delivered already")]
    Succeeded,
}

/// A delivery set to be tried now, whatever its schedule said. A retry of
/// a message that has used its attempts makes one more and, failing, ends
/// `failed` again.
pub fn manual_retry(delivery: &Delivery, now: Timestamp) -> Result<Delivery, RetryRefusal> {
    if delivery.state == DeliveryState::Succeeded {
        return Err(RetryRefusal::Succeeded);
    }
    let mut next = delivery.clone();
    next.state = DeliveryState::Pending;
    next.next_attempt_at = Some(now);
    next.version += 1;
    Ok(next)
}
